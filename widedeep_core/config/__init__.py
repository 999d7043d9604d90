"""The run configuration: fields (schema), validation, text, presets, fields vs. data.

``from widedeep_core.config import Config, preset, ...``: every public name is here.
"""

from widedeep_core.config.availability import adapt_to_data, check_against_data, fields_available
from widedeep_core.config.fields import FieldInfo, normalize_cross, split_cross
from widedeep_core.config.form import FormState
from widedeep_core.config.presets import (
    DEFAULT_PRESET,
    PRESET_HELP,
    PRESETS,
    preset,
    preset_help,
    preset_settings,
)
from widedeep_core.config.schema import Config, config_fields, field_info
from widedeep_core.config.seeds import parse_seeds, seed_run, set_name
from widedeep_core.config.text import (
    check_strings,
    config_from_strings,
    format_value,
    format_value_item,
    from_strings,
    parse_assignments,
    parse_value,
    validate_all,
)
from widedeep_core.config.validation import errors_of

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "PRESET_HELP",
    "Config",
    "FieldInfo",
    "FormState",
    "adapt_to_data",
    "check_against_data",
    "check_strings",
    "config_fields",
    "config_from_strings",
    "errors_of",
    "field_info",
    "fields_available",
    "format_value",
    "format_value_item",
    "from_strings",
    "normalize_cross",
    "parse_assignments",
    "parse_seeds",
    "parse_value",
    "preset",
    "preset_help",
    "preset_settings",
    "seed_run",
    "set_name",
    "split_cross",
    "validate_all",
]
