"""The checks `python -m course_lib project check` runs, one file per learner's module, in this order:
check_data.py, check_model.py, check_utils.py, then check_smoke.py (all three together, which waits
until the others pass). Each test's docstring is its title in the report; each failure says in plain
words what is wrong and what to do. The right answers come from course_lib and PyTorch.
"""
ORDER = ("check_data.py", "check_model.py", "check_utils.py", "check_smoke.py")
SECTIONS = {"data": "data.py", "model": "model.py", "utils": "utils.py", "smoke": "smoke run"}  # test_<section>_...
