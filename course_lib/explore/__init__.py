"""Seeing what happens: `viz` (pure functions returning matplotlib Figures) and `widgets` (ipywidgets
explorers whose sliders only index tensors computed once). Import them by name:
`from course_lib.explore import viz, widgets`.
"""
