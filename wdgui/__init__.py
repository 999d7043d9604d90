"""PySide6 + pyqtgraph desktop workbench over the headless widedeep_core."""
