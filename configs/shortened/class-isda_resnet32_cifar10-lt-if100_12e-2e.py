# SHORTENED schedule for a CPU check (not the paper recipe): the class-wise
# ISDA ablation configs/lcreg/ablations/resnet32_cifar10-lt-if100_class-isda.py
# on the shortened MiSLAS schedule (./mislas_resnet32_cifar10-lt-if100_12e-2e.py:
# stage 1 cut to 12 epochs, stage 2 to 2).
_base_ = ['./mislas_resnet32_cifar10-lt-if100_12e-2e.py']
model = dict(head=dict(
    type='ISDALinearClsHead',
    loss=dict(_delete_=True, type='ClassISDALoss', loss_weight=1.0,
              lambda0=0.5, cov_type='full')))
custom_hooks = [dict(type='LatentAugScheduleHook')]
