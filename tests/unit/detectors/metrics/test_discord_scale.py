"""discord's normal scale: the largest learned distance but the newest ones, over a ring that wraps."""
import numpy as np

from detectors.metrics.discord import _max_but_newest


def reference(ring, written, lag):
    """The largest of the values written to the ring, leaving out the `lag` written last."""
    m = len(ring)
    kept = [ring[q] for q in range(min(written, m)) if (written - 1 - q) % m >= lag]
    return max(kept, default=0.0)


def test_max_but_newest_agrees_with_the_ages_of_the_slots_before_and_after_the_ring_wraps():
    rng = np.random.default_rng(0)
    for _ in range(400):
        m = int(rng.integers(2, 12))
        written = int(rng.integers(0, 3 * m))
        lag = int(rng.integers(0, min(written, m))) if written else 0
        ring = np.zeros(m)
        for k in range(written):                     # write 0..written-1 in order, wrapping
            ring[k % m] = rng.random()
        end = (written - 1) % m + 1                   # as the kernel computes it (m when nothing is written)
        got = _max_but_newest(ring, min(written, m), end, lag)
        assert got == reference(ring, written, lag), (m, written, lag)
