
from .latent_aug_schedule_hook import LatentAugScheduleHook  # noqa: F401
from .epoch_seed_hook import EpochSeedHook  # noqa: F401
from .non_finite_loss_hook import NonFiniteLossHook  # noqa: F401
from .num_classes_check_hook import NumClassesCheckHook  # noqa: F401
from .channels_last_hook import ChannelsLastHook  # noqa: F401
from .total_batch_log_hook import TotalBatchLogHook  # noqa: F401
from .class_counts_hook import ClassCountsHook  # noqa: F401
from .deferred_reweighting_hook import DeferredReweightingHook  # noqa: F401
from .posthoc_logit_adjust_hook import PosthocLogitAdjustHook  # noqa: F401
