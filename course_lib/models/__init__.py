"""Models: a backbone (`forward_features`) followed by a classifier head from one factory.

    backbones.py   ConvStack, BACKBONES, make_backbone, feature_shape, receptive_fields
    heads.py       HEADS, make_head (N,C,H,W) -> (N,K), share_fc_weights
    classifier.py  ImageClassifier, build_model(dataset, head), count_parameters
    patches.py     receptive boxes, top-activating patches (week 4); head_algebra.py: heads converted (week 5)

`from course_lib import models` gives the public API below (this file only re-exports it).
"""
from .backbones import BACKBONES, ConvStack, feature_shape, make_backbone, receptive_fields
from .classifier import ImageClassifier, build_model, count_parameters, parameter_table
from .heads import HEADS, Conv1x1FlattenFc, Conv1x1Gap, FlattenFc, GapFc, Head, make_head, share_fc_weights

__all__ = ["BACKBONES", "HEADS", "Conv1x1FlattenFc", "Conv1x1Gap", "ConvStack", "FlattenFc", "GapFc", "Head",
           "ImageClassifier", "build_model", "count_parameters", "feature_shape", "make_backbone", "make_head",
           "parameter_table", "receptive_fields", "share_fc_weights"]
