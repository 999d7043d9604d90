# The names of the package, loaded on first use (lazy_loader.attach_stub reads this).
from .cache import data_cache_dir, user_cache_dir
from .download import RELEASES, download_release, open_release
from .loader import load_movielens
from .sources import ZipLimits
from .summary import DataSummary, summarize
from .synthetic import DEMO_SIZE, make_synthetic
from .types import LAYOUTS, MovieLensData, Problem, display_path
from .writers import write_movielens, write_synthetic, write_synthetic_zip

__all__ = [
    "DEMO_SIZE",
    "LAYOUTS",
    "RELEASES",
    "DataSummary",
    "MovieLensData",
    "Problem",
    "ZipLimits",
    "data_cache_dir",
    "display_path",
    "download_release",
    "load_movielens",
    "make_synthetic",
    "open_release",
    "summarize",
    "user_cache_dir",
    "write_movielens",
    "write_synthetic",
    "write_synthetic_zip",
]
