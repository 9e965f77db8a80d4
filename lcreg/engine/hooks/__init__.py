
from .latent_aug_schedule_hook import LatentAugScheduleHook  # noqa: F401
