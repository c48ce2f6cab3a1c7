# %% [markdown]
# # Start here: deep learning for image classification, in 7 weeks
#
# Welcome. Each week is one notebook in this folder, backed by one small library, `course_lib`, that
# you can read (`course_lib/` beside this folder) and that every notebook imports rather than redefines.
#
# **How to use a notebook.** Run a cell with *Shift+Enter*; run a whole lesson with
# *Run > Run All Cells*; start again from a clean state with *Kernel > Restart Kernel and Run All Cells*.
# Sliders and buttons need the kernel running. Every lesson states the results to expect at its top.
#
# **Fast mode.** `COURSE_FAST=1` (set before starting JupyterLab) shrinks the data and the epochs
# everywhere, so every lesson runs in seconds; without it, the lessons train on the full data sets.
#
# **Expected results - fast mode (`COURSE_FAST=1`):**
# - The check below prints your torch version, CPU (or GPU) and "fast mode: True", and lists the data
#   sets: MNIST ready (required); Fashion-MNIST ready or a note that it is optional; CIFAR-10/100 missing
#   unless you fetched them with internet.
#
# **Expected results - full mode:**
# - The same check with "fast mode: False".

# %% [markdown]
# ## The course
#
# | week | lesson | you will |
# |---|---|---|
# | 1 | [Images as tensors, Dataset and DataLoader](week01_tensors_datasets_loaders.ipynb) | see an image as numbers, normalize it, batch a data set |
# | 2 | [The entire network from scratch](week02_network_from_scratch.ipynb) | write `y_pred = f(X, W)` and its gradients with raw tensors, check them against autograd |
# | 3 | [The life cycle of one batch](week03_batch_life_cycle.ipynb) | step through to(device), forward, error, loss, backward, update, argmax |
# | 4 | [Successive distillation in a conv stack](week04_successive_distillation.ipynb) | watch edges become strokes, parts and digits, layer by layer |
# | 5 | [The final layer](week05_final_layer_heads.ipynb) | compare GAP->FC, 1x1 conv->GAP and Flatten->FC; see class activation maps |
# | 6 | [Modular training](week06_modular_training.ipynb) | swap heads and data sets with one config; compare accuracy, size, time |
# | 7 | [Many devices](week07_many_devices.ipynb) | train data-parallel with `torch.distributed` (DDP) launched by `torchrun` |
#
# After each week: its quiz review in `quizzes/` (answers are checked and your progress is saved) and
# its summary in `summaries/`. The cumulative review (`quizzes/cumulative_review.ipynb`) mixes all weeks.

# %% [markdown]
# ## Is this machine ready?

# %%
from IPython.display import Markdown, display

from course_lib import data, training

print(training.environment_line())
print(f"device the lessons will use: {training.get_device()} | fast mode: {data.is_fast_mode()}")
rows = ["| data set | shape | classes | on this machine |", "|---|---|---|---|"]
for name, spec in data.DATASETS.items():
    ready = data.is_available(name)
    if ready:
        state = "ready"
    elif name == "mnist":
        state = "**missing: run `make data`** (required)"
    elif name == "fashion_mnist":
        state = "missing (optional: `make data` tells why; lessons use MNIST instead)"
    else:
        state = f"missing (optional: `python -m course_lib data fetch {name}` needs internet)"
    rows.append(f"| {name} | {spec.input_shape} | {spec.num_classes} | {state} |")
display(Markdown("\n".join(rows)))
assert data.is_available("mnist"), "MNIST is required: run `make data` in the course folder"

# %% [markdown]
# ## What you will classify
#
# The first images of the training set every lesson starts from. Go on with
# [week 1](week01_tensors_datasets_loaders.ipynb).

# %%
from course_lib.explore import viz

spec = data.get_spec("mnist")
images, labels = data.load_tensors("mnist", train=True)
viz.image_grid(images[:16], labels[:16], spec.classes, title="MNIST: 16 handwritten digits, 28 x 28 pixels each")
