
from .latent_category_classifier import LatentCategoryClassifier  # noqa: F401
