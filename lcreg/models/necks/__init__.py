
from .latent_category_neck import LatentCategoryNeck  # noqa: F401
