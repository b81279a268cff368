"""Error bounds that test tolerances are derived from (one home, so each test says which).

Two properties of an error-controlled one-step method are used throughout:

* every accepted step's local error is below one *tolerance unit*, ``atol + rtol * |y|``;
* on a problem that does not amplify errors (decay, rotation, relaxation towards an
  attractor) the global error is at most the sum of the local errors, so at most
  ``n_steps`` tolerance units per state.

Pain is an algebraic function of the state, so a state error maps to pain through pain's
gradient, taken here by central differences (their relative error, ~1e-6, is far below
the slack of any bound built from it).
"""

import numpy as np


def state_bound(n_steps, y, rtol, atol):
    """Global error bound per state: ``n_steps`` tolerance units at the state ``y``."""
    return np.asarray(n_steps) * (atol + rtol * np.abs(y))


def pain_gradient(model, y, P, h=1e-6):
    """d pain / d state by central differences; ``y`` (n_states, m) -> (n_states, m)."""
    rows = []
    for i in range(y.shape[0]):
        e = np.zeros_like(y)
        e[i] = h
        rows.append((model.pain_of(y + e, P) - model.pain_of(y - e, P)) / (2 * h))
    return np.stack(rows)


def pain_bound(model, y, P, err):
    """Pain error implied by a state error ``err`` (same shape as ``y``)."""
    return (np.abs(pain_gradient(model, y, P)) * err).sum(axis=0)
