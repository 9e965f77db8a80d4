from . import samplers  # noqa: F401
from .digits import SklearnDigits  # noqa: F401
from .lt_list import INat2018, ImageNetLT, LTListDataset, PlacesLT  # noqa: F401
from .long_tailed import LongTailed  # noqa: F401
from .cifar_lt import CIFAR10LT, CIFAR100LT  # noqa: F401
