"""Seeing what happens: `viz` (pure functions returning matplotlib Figures) and `widgets` (ipywidgets
explorers whose sliders only index tensors computed once). Import them by name:
`from course_lib.explore import viz, widgets`.

    viz.py            figures                       widgets.py        Sample/FeatureMap/Cam explorers
    explorer_base.py  View, Explorer (caches)       batch_stepper.py  week 3's BatchStepper
    fast_render.py    LiveFigure: frames in ms      png.py            encode_png, figure_png, LRU
    patch_explorer.py week 4's top patches          autograd_graph.py week 3's computation graph
    per_sample_viz.py loss vs gradient norm         timeline_viz.py   timings and DDP timelines
"""
