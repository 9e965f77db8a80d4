
from .long_tail_metric import LongTailMetric  # noqa: F401
from .split_table import dump_metrics_json, format_split_table  # noqa: F401
