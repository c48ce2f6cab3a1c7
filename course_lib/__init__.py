"""course_lib: the small shared library behind the course notebooks.

    data      datasets registry, tensors, loaders        provision  getting real data offline
    models    backbones + build_model                    heads      the classifier-head factory
    train     one batch's life cycle, evaluate, fit      recipes    tuned configs, run_training
    project   build your own classifier: template, checks, reference solution
Import the module you need: `from course_lib import data, models, train`.
"""
__version__ = "0.1.0"
