"""CAD OSE: the Contextual Anomaly Detector, open source edition.

After CAD OSE (Mikhail Smirnov, https://github.com/smirmik/CAD, as run by NAB in
``nab/detectors/context_ose/``; Copyright (C) 2016 Mikhail Smirnov, GNU Affero General
Public License version 3). This module is a derivative of that code and is distributed
under the GNU Affero General Public License version 3
(https://www.gnu.org/licenses/agpl-3.0.html).

Each value is quantised into ``2**bits`` bins of the series range and encoded as one
"fact" per bit. A context memory stores pairs (left facts -> right facts): the left
side is the previous step's facts plus the ids of the contexts that were active then
("neurons"), the right side the facts that followed. The anomaly score of a point is
``(1 - share of selected contexts fully confirmed + share of new contexts) / 2`` when
the point's facts were not all predicted, else 0; after a score of at least
``base_threshold`` the detector rests for ``rest`` points.

Differences from the original: Python 3 (context ids follow dict insertion order, so
they may be numbered differently from a Python 2 run; the ordering of active contexts
uses Python 2's tuple hash, as the original's sort does). NAB gives CAD OSE each
file's minimum and maximum and a rest period of a fifth of NAB's probation; as a
streaming detector this port fixes the range from the first ``warmup`` points widened
by ``margin`` on each side (bins clipped to the range), rests ``warmup / 5`` points,
and scores 0 until the range is fixed. Passing ``min_value``, ``max_value`` and
``length`` reproduces NAB's setting (look-ahead; for checking only).
"""

from __future__ import annotations

import math
from collections import Counter
from itertools import chain

from triops.ops.detectors._base import StreamingDetector, part, register

_MASK = (1 << 64) - 1


def _signed(x: int) -> int:
    x &= _MASK
    return x - (1 << 64) if x >> 63 else x


def py2_hash(value) -> int:
    """Python 2's 64-bit ``hash`` of ints and (nested) tuples of ints."""
    if isinstance(value, tuple):
        x = 0x345678
        mult = 1000003
        n = len(value)
        for item in value:
            n -= 1
            x = _signed((x ^ py2_hash(item)) * mult)
            mult = _signed(mult + 82520 + n + n)
        x = _signed(x + 97531)
        return -2 if x == -1 else x
    return -2 if value == -1 else int(value)


@part
class ContextMemory:
    """CAD's context operator: semi-contexts, contexts and their crossing."""

    def __init__(self, max_left_length: int) -> None:
        self.max_left_length = max_left_length
        # facts -> indices of semi-contexts holding them, left [0] and right [1]
        self.facts = [{}, {}]
        self.semi_ids = [{}, {}]  # hash of a facts tuple -> semi-context index
        # left semi-context: [facts, size, crossed count, {right id: context id}]
        # right semi-context: [facts, size, crossed count]
        self.semi = [[], []]
        self.crossed = [[], []]  # indices of semi-contexts crossed by the last input
        self.inputs = [[], []]  # the last input crossed with each side
        # context: [selections, confirmations, activations, right facts, zero level,
        #           left hash, right hash]
        self.contexts = []
        # The original starts from and resets to False, and ``False != 0`` is false
        # in Python: context 0 is skipped whenever no new context was just made.
        self.new_context_id = 0

    def get_context_by_facts(self, new_contexts, zerolevel: int = 0):
        added = 0
        for left_facts, right_facts in new_contexts:
            left_hash = py2_hash(left_facts)
            right_hash = py2_hash(right_facts)
            left_id = self.semi_ids[0].setdefault(left_hash, len(self.semi[0]))
            if left_id == len(self.semi[0]):
                self.semi[0].append([list(left_facts), len(left_facts), 0, {}])
                for fact in left_facts:
                    self.facts[0].setdefault(fact, []).append(left_id)
            right_id = self.semi_ids[1].setdefault(right_hash, len(self.semi[1]))
            if right_id == len(self.semi[1]):
                self.semi[1].append([list(right_facts), len(right_facts), 0])
                for fact in right_facts:
                    self.facts[1].setdefault(fact, []).append(right_id)
            next_id = len(self.contexts)
            context_id = self.semi[0][left_id][3].setdefault(right_id, next_id)
            if context_id == next_id:
                added += 1
                self.contexts.append([0, 0, 0, list(right_facts), zerolevel, left_hash, right_hash])
                if zerolevel:
                    self.new_context_id = context_id
                    return True
            elif zerolevel:
                self.contexts[context_id][4] = 1
                return False
        return added

    def _cross(self, side: int, facts) -> None:
        """Count, for every semi-context of a side, how many of ``facts`` it holds.

        The original appends each crossed fact to its semi-contexts; the crossed facts
        of a semi-context are rebuilt on demand (:meth:`_crossed_facts`) in the same
        order, since only new-context candidates need them.
        """
        semi = self.semi[side]
        for k in self.crossed[side]:
            semi[k][2] = 0
        index = self.facts[side]
        counts = Counter(chain.from_iterable(index.get(fact, ()) for fact in facts))
        touched = sorted(counts)  # the original walks semi-contexts in creation order
        for k in touched:
            semi[k][2] = counts[k]
        self.crossed[side] = touched
        self.inputs[side] = list(facts)

    def _crossed_facts(self, side: int, k: int) -> tuple:
        members = set(self.semi[side][k][0])
        return tuple(f for f in self.inputs[side] if f in members)

    def cross_left(self, facts, new_context_flag: bool):
        """Cross the input with the right semi-contexts; active contexts and candidates."""
        self._cross(1, facts)
        return self._update_and_get_active(new_context_flag)

    def cross_right(self, facts, potential_new_contexts):
        """Store new contexts, cross the left side, and predict the next facts."""
        added = self.get_context_by_facts(potential_new_contexts) if potential_new_contexts else 0
        self._cross(0, facts)
        best = 0.0
        predicting = []
        for k in self.crossed[0]:
            left = self.semi[0][k]
            if left[1] != left[2]:
                continue
            for context_id in left[3].values():
                c = self.contexts[context_id]
                weight = c[1] / float(c[0]) if c[0] > 0 else 0.0
                if weight > best:
                    best = weight
                    predicting = [c]
                elif weight == best:
                    predicting.append(c)
        predictions = set()
        for c in predicting:
            predictions.update(c[3])
        return added, predictions

    def _update_and_get_active(self, new_context_flag: bool):
        active = []
        selected = 0
        candidates = []
        right_semi = self.semi[1]
        for k in self.crossed[0]:
            left = self.semi[0][k]
            if left[1] != left[2] and not new_context_flag:
                continue  # neither selected nor a source of new contexts
            for right_id, context_id in left[3].items():
                if self.new_context_id == context_id:
                    continue
                c = self.contexts[context_id]
                _, r_size, r_crossed = right_semi[right_id]
                if left[1] == left[2]:
                    selected += 1
                    c[0] += r_size
                    if r_crossed > 0:
                        c[1] += r_crossed
                        if r_size == r_crossed:
                            c[2] += 1
                            active.append((context_id, c[2], c[5], c[6]))
                        elif c[4] and new_context_flag and left[2] <= self.max_left_length:
                            candidates.append(
                                (self._crossed_facts(0, k), self._crossed_facts(1, right_id))
                            )
                elif (
                    c[4] and new_context_flag and r_crossed > 0 and left[2] <= self.max_left_length
                ):
                    candidates.append((self._crossed_facts(0, k), self._crossed_facts(1, right_id)))
        self.new_context_id = 0
        return active, selected, candidates


@register
class ContextAnomalyOSE(StreamingDetector):
    """CAD OSE's anomaly score (contexts confirmed and new) with its rest period."""

    name = "cad_ose"
    # Threshold chosen by NAB's standard-profile optimiser for this detector on
    # the 47-series corpus, rounded to 4 places (`python bench/nab.py --detector cad_ose`).
    threshold = 0.6421

    def __init__(
        self,
        *,
        warmup: int = 150,
        margin: float = 0.25,
        base_threshold: float = 0.75,
        max_left_length: int = 7,
        max_active_neurons: int = 15,
        bits: int = 3,
        min_value: float | None = None,
        max_value: float | None = None,
        length: int | None = None,
    ) -> None:
        self.warmup = warmup
        self.margin = margin
        self.base_threshold = base_threshold
        self.max_active = max_active_neurons
        self.bits = bits
        self.max_bin = 2**bits - 1.0
        if length is not None:
            probation = min(math.floor(0.15 * length), 750)
            self.rest = int(probation / 5.0)
        else:
            self.rest = int(warmup / 5.0)
        self.min_value = min_value
        self.step = None
        if min_value is not None and max_value is not None:
            self._set_range(min_value, max_value)
        self.clip = self.step is None  # streaming: bins outside the fixed range clip
        self.pending: list[float] | None = [] if self.step is None else None
        self.memory = ContextMemory(max_left_length)
        self.left_group: tuple = ()
        self.predicted: list = []  # facts the contexts predicted for this point
        self.history = [1.0]

    def _set_range(self, lo: float, hi: float) -> None:
        full = hi - lo
        if full == 0.0:
            full = self.max_bin
        self.min_value = lo
        self.step = full / self.max_bin

    def _update(self, timestamp: float, value: float) -> float:
        if self.pending is None:
            return self._score(value)
        self.pending.append(value)
        if len(self.pending) >= self.warmup:
            lo, hi = min(self.pending), max(self.pending)
            self._set_range(lo - self.margin * (hi - lo), hi + self.margin * (hi - lo))
            pending, self.pending = self.pending, None
            for v in pending:
                self._score(v)
        return 0.0

    def _score(self, value: float) -> float:
        level = int((value - self.min_value) / self.step)
        if self.clip:
            level = min(max(level, 0), int(self.max_bin))
        facts = {
            65536 + k * 2 + ((level >> k) & 1) for k in range(max(self.bits, level.bit_length()))
        }
        predicted = set(self.predicted)
        missed = sum(2 ** ((f - 65536) // 2) for f in facts if f not in predicted)
        error = missed / self.max_bin
        predictions, confirmed, added = self._step(facts)
        self.predicted = sorted(predictions)
        current = (1.0 - confirmed + added) / 2.0 if error > 0 else 0.0
        recent = self.history[-self.rest :] if self.rest > 0 else self.history
        out = current if max(recent) < self.base_threshold else 0.0
        self.history.append(current)
        if len(self.history) > max(self.rest, 1) + 1:
            del self.history[0]
        return out

    def _step(self, facts: set):
        sens = tuple(sorted(facts))
        memory = self.memory
        potential = set()
        if self.left_group and sens:
            zero = (tuple(self.left_group), sens)
            potential.add(zero)
            new_flag = memory.get_context_by_facts([zero], zerolevel=1)
        else:
            new_flag = False
        active, selected, candidates = memory.cross_left(sens, new_flag)
        potential.update(candidates)
        confirmed = len(active) / float(selected) if selected > 0 else 0.0
        active.sort(key=lambda a: (a[1], a[2], a[3]))
        neurons = {2**31 + a[0] for a in active[-self.max_active :]}
        self.left_group = tuple(sorted(set(sens) | neurons))
        added, predictions = memory.cross_right(self.left_group, candidates)
        added += 1 if new_flag else 0
        share = added / float(len(potential)) if new_flag and potential else 0.0
        return predictions, confirmed, share
