"""Likely label errors: confident learning on the out-of-sample probabilities of a crossval job.

The out-of-sample ranking orders training images by how wrong their label looks, but not how
many are wrong. Confident learning (Northcutt et al.; the cleanlab library, called here rather
than re-implemented) estimates that from the same probabilities: a per-class confidence
threshold, the joint distribution of given and true labels (the confident joint), and the images
to flag. Everything is computed from the stored probabilities; nothing is retrained.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.errors import UserError

# The options every find_label_issues call here passes, pinned (the tests call cleanlab the same
# way). n_jobs=1: no process pool inside the dashboard; cleanlab's result does not depend on it.
PINNED = {
    "filter_by": "prune_by_noise_rate",
    "frac_noise": 1.0,
    "min_examples_per_class": 1,
    "n_jobs": 1,
}
# How the flagged set is chosen. "cleanlab": find_label_issues(**PINNED) as it is. "calibrated_count"
# (the default, measured better on the flipped digits: bench/label_issues.py): cleanlab's own
# estimate of how many labels are wrong, n·(1 − trace of the calibrated joint) (count.num_label_issues
# with "off_diagonal_calibrated"), taken from the top of the self-confidence ranking (rank.
# get_label_quality_scores), i.e. of the out-of-sample loss ranking. Multi-label uses cleanlab's.
RULES = {
    "calibrated_count": (
        "Confident learning estimates how many labels are wrong; the lowest-scoring that many are flagged."
    ),
    "cleanlab": "cleanlab's find_label_issues with its default filter (prune by noise rate).",
}
DEFAULT_RULE = "calibrated_count"
SUM_TOLERANCE = 1e-3  # a single-label row's probabilities must sum to 1 within this
EPS = 1e-12
METHODS = {
    "self_confidence": (
        "The probability the model gives the image's own label: low means the label looks wrong."
    ),
    "normalized_margin": (
        "The label's probability minus the strongest other class's: low (below zero) means "
        "another class is preferred over the label."
    ),
}
RANKED_COLUMNS = ["file", "given", "suggested", "quality", "flagged"]
NOISE_COLUMNS = ["class", "given", "estimated_wrong", "rate"]


@dataclass
class LabelIssues:
    """Confident learning's verdict on the training images of one crossval job."""

    dataset: str
    task: str  # "single_label" or "multi_label"
    crossval_job: int
    n: int  # training images judged
    files: list[str]  # as they are now (renames applied)
    given: list  # labels as they are now: str (single-label) or list of tags (multi-label)
    suggested: list  # argmax class, or the tags above the threshold joined by " "
    quality: np.ndarray  # label-quality score per file (lower = more likely wrong), by method
    flagged: np.ndarray  # bool: by `rule` (RULES)
    method: str
    joint: np.ndarray | None  # C×C given (rows) vs true (cols), sums to 1; None for multi-label
    noise_rate: pd.DataFrame  # NOISE_COLUMNS, one row per class
    vocab: list[str]
    loss: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the plain ranking's loss
    stale: bool = False  # the data changed since the cross-validation (fingerprint differs)
    notes: list[str] = field(default_factory=list)  # e.g. images relabelled or deleted since
    rule: str = DEFAULT_RULE
    cleanlab_flagged: np.ndarray | None = None  # find_label_issues(**PINNED), whatever the rule

    @property
    def count(self) -> int:
        """How many training labels look wrong."""
        return int(np.count_nonzero(self.flagged))

    def ranked(self, likely_only: bool = False) -> pd.DataFrame:
        """file, given, suggested, quality, flagged: lowest quality first (ties by file)."""
        given = [g if isinstance(g, str) else " ".join(g) for g in self.given]
        frame = pd.DataFrame(
            {
                "file": self.files,
                "given": given,
                "suggested": self.suggested,
                "quality": np.asarray(self.quality, dtype=float),
                "flagged": np.asarray(self.flagged, dtype=bool),
            },
            columns=RANKED_COLUMNS,
        )
        if likely_only:
            frame = frame[frame["flagged"]]
        return frame.sort_values(["quality", "file"], kind="stable").reset_index(drop=True)

    def cell(self, given: str, true: str) -> list[str]:
        """The images behind one cell of the joint: labelled `given`, the model suggests `true`.

        Flagged images first, then the rest, each lowest quality first.
        """
        frame = self.ranked()
        part = frame[(frame["given"] == given) & (frame["suggested"] == true)]
        part = part.sort_values(["flagged", "quality", "file"], ascending=[False, True, True], kind="stable")
        return list(part["file"])


def check_probs(probs: np.ndarray, n_classes: int, task: str) -> np.ndarray:
    """probs as float64 N×C, or a UserError saying what is wrong with them."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != n_classes:
        raise UserError(
            f"The stored probabilities have shape {p.shape}, not one row per image and one "
            f"column per class ({n_classes}); run the out-of-sample job again."
        )
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise UserError(
            "The stored probabilities are not all between 0 and 1; run the out-of-sample job again."
        )
    if task != "multi_label" and len(p):
        worst = float(np.abs(p.sum(axis=1) - 1).max())
        if worst > SUM_TOLERANCE:
            raise UserError(
                f"The stored probabilities of an image do not sum to one (off by {worst:.3g}); "
                "confident learning needs softmax probabilities: run the out-of-sample job again."
            )
    return p


def single_label(
    labels: np.ndarray, probs: np.ndarray, method: str = "self_confidence", rule: str = DEFAULT_RULE
) -> dict:
    """Quality, flags (by rule), the confident joint (normalised) and the estimated wrong per class.

    labels: N class indices; probs: N×C rows summing to one (check_probs). The confident joint is
    computed once and handed to estimate_joint and find_label_issues (what each would compute
    itself): rule "cleanlab" equals cleanlab.filter.find_label_issues(labels, probs, **PINNED),
    "calibrated_count" flags the lowest round(n·(1 − trace(joint))) self-confidence scores.
    """
    from cleanlab import count, filter, rank

    labels = np.asarray(labels, dtype=np.int64)
    _check_classes(np.bincount(labels, minlength=probs.shape[1]))
    _rule(rule)
    confident = count.compute_confident_joint(labels, probs)
    joint = count.estimate_joint(labels, probs, confident_joint=confident)
    quality = rank.get_label_quality_scores(labels, probs, method=_method(method))
    plain = np.asarray(filter.find_label_issues(labels, probs, confident_joint=confident, **PINNED), bool)
    if rule == "cleanlab":
        flagged = plain
    else:
        confidence = quality if method == "self_confidence" else probs[np.arange(len(labels)), labels]
        flagged = lowest(confidence, int(np.rint((1.0 - np.trace(joint)) * len(labels))))
    n = len(labels)
    wrong = (joint.sum(axis=1) - np.diag(joint)) * n
    return {"quality": quality, "flagged": flagged, "joint": joint, "wrong": wrong, "cleanlab": plain}


def multi_label(targets: np.ndarray, probs: np.ndarray, method: str = "self_confidence") -> dict:
    """Quality and flags for N×C multi-hot targets (cleanlab's multi-label functions, PINNED)."""
    from cleanlab.multilabel_classification import filter, rank

    t = np.asarray(targets, dtype=bool)
    _check_classes(t.sum(axis=0), multi=True)
    lists = [list(np.flatnonzero(row)) for row in t]
    flagged = filter.find_label_issues(lists, probs, **PINNED)
    quality = rank.get_label_quality_scores(lists, probs, method=_method(method))
    return {"quality": quality, "flagged": np.asarray(flagged, dtype=bool), "joint": None}


def lowest(scores: np.ndarray, k: int) -> np.ndarray:
    """A mask of the k lowest scores (ties: the earlier item first, a stable sort)."""
    mask = np.zeros(len(scores), dtype=bool)
    mask[np.argsort(scores, kind="stable")[: max(k, 0)]] = True
    return mask


def _rule(rule: str) -> str:
    if rule not in RULES:
        raise UserError(f"Unknown way to flag {rule!r}; choose one of: {', '.join(RULES)}.")
    return rule


def _method(method: str) -> str:
    if method not in METHODS:
        raise UserError(f"Unknown label-quality score {method!r}; choose one of: {', '.join(METHODS)}.")
    return method


def _check_classes(counts: np.ndarray, multi: bool = False) -> None:
    if len(counts) < 2 or np.count_nonzero(counts) < 2:
        what = "labels" if multi else "classes"
        raise UserError(
            f"Confident learning compares classes, and these training images use fewer than two {what}: "
            "there is nothing a label could be confused with."
        )


def find(
    result: dict,
    dataset: str,
    method: str = "self_confidence",
    renamed: dict | None = None,
    rule: str = DEFAULT_RULE,
) -> LabelIssues:
    """Confident learning on a crossval job's result (core.train.crossval.load_result), as the data are now.

    renamed maps an old file name to its name now (core.data.journal.renames; looked up from the
    journal when None): a relabelled image is judged against its new label. Images deleted since
    are left out (a note says how many). stale is True when the data changed since the job.
    """
    from core.data import access, layouts

    task = result.get("task", "single_label")
    vocab = list(result["vocab"])
    if len(vocab) < 2:
        _check_classes(np.zeros(len(vocab)), multi=task == "multi_label")
    probs = check_probs(result["probs"], len(vocab), task)
    if renamed is None:
        from core.data.journal import renames

        renamed = renames(dataset, float(result.get("created", 0.0)))
    cfg = result.get("config", {})
    items = access.items(dataset, valid_pct=cfg.get("valid_pct", 0.2), seed=cfg.get("seed", 0))
    now = {f: lab for f, lab, v in zip(items.files, items.labels, items.is_valid) if not v}
    keep, files, given = [], [], []
    moved = 0
    for i, old in enumerate(result["files"]):
        f = renamed.get(old, old)
        if f in now:
            keep.append(i)
            files.append(f)
            given.append(list(now[f]) if task == "multi_label" else now[f])
            moved += f != old
    notes = []
    if moved:
        notes.append(f"{moved} image(s) relabelled since the cross-validation are judged by their label now.")
    if len(keep) < len(result["files"]):
        notes.append(
            f"{len(result['files']) - len(keep)} image(s) of the cross-validation are gone since "
            "and left out."
        )
    if not keep:
        raise UserError(
            "None of the images this cross-validation judged is in the dataset now; "
            "run the out-of-sample job again."
        )
    probs = probs[keep]
    stale = result.get("fingerprint") != layouts.fingerprint(items)
    job = int(result.get("job_id", 0))
    if task == "multi_label":
        return _multi(dataset, job, files, given, probs, vocab, method, result, stale, notes)
    index = {c: i for i, c in enumerate(vocab)}
    unknown = sorted({g for g in given if g not in index})
    if unknown:
        raise UserError(
            "Some training images now carry labels the cross-validation never saw "
            f"({', '.join(unknown[:3])}); run the out-of-sample job again."
        )
    labels = np.array([index[g] for g in given], dtype=np.int64)
    out = single_label(labels, probs, method, rule)
    p_given = probs[np.arange(len(labels)), labels]
    return LabelIssues(
        dataset=dataset,
        task=task,
        crossval_job=job,
        n=len(files),
        files=files,
        given=given,
        suggested=[vocab[i] for i in probs.argmax(axis=1)],
        quality=out["quality"],
        flagged=out["flagged"],
        method=method,
        joint=out["joint"],
        noise_rate=noise_table(vocab, np.bincount(labels, minlength=len(vocab)), out["wrong"]),
        vocab=vocab,
        loss=-np.log(np.clip(p_given, EPS, 1.0)),
        stale=stale,
        notes=notes,
        rule=rule,
        cleanlab_flagged=out["cleanlab"],
    )


def _multi(dataset, job, files, given, probs, vocab, method, result, stale, notes) -> LabelIssues:
    from core.analysis.multilabel import losses, multi_hot

    targets = multi_hot(given, vocab)
    out = multi_label(targets, probs, method)
    threshold = float(result.get("threshold", 0.5))
    predicted = probs > threshold
    # per label: the flagged images whose tag for it disagrees with the prediction
    wrong = ((predicted != targets) & out["flagged"][:, None]).sum(axis=0)
    return LabelIssues(
        dataset=dataset,
        task="multi_label",
        crossval_job=job,
        n=len(files),
        files=files,
        given=given,
        suggested=[" ".join(vocab[i] for i in np.flatnonzero(r)) for r in predicted],
        quality=out["quality"],
        flagged=out["flagged"],
        method=method,
        joint=None,
        noise_rate=noise_table(vocab, targets.sum(axis=0), wrong, len(files)),
        vocab=vocab,
        loss=losses(probs, targets),
        stale=stale,
        notes=notes,
        rule="cleanlab",
        cleanlab_flagged=out["flagged"],
    )


def noise_table(
    vocab: list[str], given: np.ndarray, wrong: np.ndarray, per: int | None = None
) -> pd.DataFrame:
    """class, given (images with it), estimated_wrong, rate (wrong / given, or / per when given)."""
    given = np.asarray(given, dtype=np.int64)
    wrong = np.asarray(wrong, dtype=np.float64)
    den = np.full(len(given), per, dtype=np.float64) if per else given.astype(np.float64)
    rate = np.divide(wrong, den, out=np.zeros(len(given)), where=den > 0)
    return pd.DataFrame(
        {
            "class": list(vocab),
            "given": given,
            "estimated_wrong": np.round(wrong).astype(np.int64),
            "rate": rate,
        },
        columns=NOISE_COLUMNS,
    )


def _scores(chosen: set, planted: set) -> dict:
    hit = len(chosen & planted)
    precision = hit / len(chosen) if chosen else 0.0
    recall = hit / len(planted) if planted else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"n": len(chosen), "found": hit, "precision": precision, "recall": recall, "f1": f1}


def against_flips(issues: LabelIssues, flipped: list[dict]) -> dict:
    """Precision, recall and F1 of the flagged set against the planted flips, beside the plain ranking's.

    flipped: core.data.datasets.flipped_files (files as they are now); only flips among the
    judged training images count, and a flip already relabelled to its true class is no flip.
    Returns {"flips", "precision", "recall", "f1", "flagged": {...}, "ranking": {...} (the first
    `count` images by out-of-sample loss), "ranking_oracle": {...} (the first `flips`, N known),
    "cleanlab": {...} (cleanlab's find_label_issues with PINNED, the library's default)}.
    """
    now = dict(zip(issues.files, issues.given))
    planted = {f["file"] for f in flipped if f["file"] in now and str(now[f["file"]]) != str(f.get("true"))}
    order = np.lexsort((np.asarray(issues.files, dtype=object).astype(str), -np.asarray(issues.loss)))
    by_loss = [issues.files[i] for i in order]
    flagged = _scores({f for f, x in zip(issues.files, issues.flagged) if x}, planted)
    out = {
        "flips": len(planted),
        "precision": flagged["precision"],
        "recall": flagged["recall"],
        "f1": flagged["f1"],
        "flagged": flagged,
        "ranking": _scores(set(by_loss[: issues.count]), planted),
        "ranking_oracle": _scores(set(by_loss[: len(planted)]), planted),
    }
    if issues.cleanlab_flagged is not None:
        plain = {f for f, x in zip(issues.files, issues.cleanlab_flagged) if x}
        out["cleanlab"] = _scores(plain, planted)
    return out
