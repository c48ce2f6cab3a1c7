"""Course tooling (not part of the learner's library): the notebook build."""
