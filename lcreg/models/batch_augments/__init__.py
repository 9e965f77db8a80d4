from .remix import Remix, remix_label_weight  # noqa: F401
