"""calcbook: the package behind the open textbook *Calculus for Deep Learning*.

NumPy is the only run-time dependency. The modules are named for their concepts:

- `calcbook.numdiff`: finite differences, complex step, Richardson extrapolation.
- `calcbook.value`: `Value`, the scalar engine for teaching backpropagation by hand.
- `calcbook.losses`: `cross_entropy`, with its fused derivative rule.
- `calcbook.dual`: `Dual`, forward-mode dual numbers at teaching size.
- the array engine (reverse and forward mode on plain NumPy code) and its functional API:
  `grad`, `value_and_grad`, `vjp`, `jvp`, `jacrev`, `jacfwd`, `jacobian`, `hessian`, `hvp`,
  `check_grads`.
"""

__version__ = "0.1.0"

from . import numdiff
from .activations import log_softmax, logsumexp, softmax
from .checking import check_grads
from .dual import Dual
from .graphsvg import draw_graph
from .losses import cross_entropy
from .transforms import grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, value_and_grad, vjp
from .value import Value

__all__ = [
    "Dual",
    "Value",
    "__version__",
    "check_grads",
    "cross_entropy",
    "draw_graph",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jvp",
    "log_softmax",
    "logsumexp",
    "numdiff",
    "softmax",
    "value_and_grad",
    "vjp",
]
