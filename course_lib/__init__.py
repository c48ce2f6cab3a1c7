"""course_lib: the small shared library behind the course notebooks.

    data      datasets registry, tensors, loaders, provisioning
    models    backbones + heads factory + build_model
    training  one batch's life cycle, evaluate, fit, checkpoints, recipes (run_training)
Import the module you need: `from course_lib import data, models, training`.
"""
__version__ = "0.1.0"
