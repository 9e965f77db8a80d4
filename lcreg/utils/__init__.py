from .config_options import UnknownConfigKeyError, merge_cfg_options

__all__ = ['UnknownConfigKeyError', 'merge_cfg_options']
