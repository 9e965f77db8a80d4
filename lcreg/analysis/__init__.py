"""The computations behind the pictures of ``tools/analysis``.

Pure functions on arrays (one module per picture), so the numbers of every
plot can be tested without drawing it:

* :mod:`.latent_stats` - latent-category weights (paper Fig. 4), top
  latents / top images, class × latent matrix, similarity maps.
* :mod:`.calibration` - reliability-diagram bins and the ECE.
* :mod:`.per_class` - per-class accuracy ordered from head to tail classes.
* :mod:`.log_curves` - training curves from MMEngine's JSON scalar logs.

:mod:`.model_io` loads a config + checkpoint and runs images through the
test pipeline for the tools. Not imported by ``import lcreg``: the tools
import ``lcreg.analysis`` explicitly.
"""
