"""course_lib: the small shared library behind the course notebooks.

    errors, config, paths, files   the bottom layer: errors, TrainConfig, where the folders are, safe writes
    data       registry of self-describing data sets, formats, loaders, provisioning
    models     backbones + heads factory + build_model
    training   one batch's life cycle, evaluate, fit (one process or DDP), checkpoints, recipes
    explore    viz (figures) and widgets (slider explorers)
    quiz       banks, kinds, computed answers, progress, widgets
    exercises  checked exercises of the lessons;  project  build your own classifier: template, checks, solution
Imports go one way (errors/config/paths/files <- data <- models <- training <- explore/quiz <- exercises/project
<- command lines).
Import the package you need: `from course_lib import data, models, training`.
"""
__version__ = "0.1.0"
