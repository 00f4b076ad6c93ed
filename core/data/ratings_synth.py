"""ratings_synth: ratings of invented films by invented people, drawn from known tastes plus noise.

Each film has a genre; its K=4 latent factors are its genre's centre plus a little scatter, so
films of a genre sit together in an embedding plot. Each person has K factors and a bias, each
film a bias; a rating is

    global mean + user bias + item bias + user factors · item factors + N(0, NOISE_SD²),

clipped to 0.5–5 and rounded to the nearest half star, as MovieLens's are. Each person rates a
random subset of the films. dataset.json records noise_sd and noise_floor: the RMSE of the
noise-free truth (clipped to the rating range) against the observed ratings, i.e. the best RMSE
any model can hope for on average.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.data.csv_reader import write_csv
from core.data.datasets import META_FILE, _publish, _removed_on_failure, drawn_folder
from core.data.tables import ITEMS_CSV, RATINGS_CSV, RatingRoles, Split

SEED = 0
N_USERS, N_ITEMS, K = 300, 200, 4
PER_USER = (25, 110)  # each person rates between these many films (about 20,000 ratings in all)
GLOBAL_MEAN = 3.5
USER_BIAS_SD, ITEM_BIAS_SD = 0.35, 0.45
FACTOR_SD = 0.55  # a person's tastes
SCATTER = 0.25  # a film's distance from its genre's centre
NOISE_SD = 0.5
RANGE = (0.5, 5.0)
GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi")
WORDS = {  # genre: (first words, second words) of its invented titles
    "Action": (("Iron", "Last", "Burning", "Silent", "Rogue"), ("Fist", "Run", "Siege", "Strike")),
    "Comedy": (("Crazy", "Happy", "Lucky", "Awkward", "Big"), ("Wedding", "Weekend", "Neighbours")),
    "Drama": (("Quiet", "Long", "Broken", "Distant", "Bitter"), ("River", "Winter", "Letters", "Harvest")),
    "Horror": (("Dark", "Hollow", "Cursed", "Pale", "Crawling"), ("House", "Woods", "Night", "Cellar")),
    "Romance": (("Sweet", "Summer", "Secret", "Paris", "Second"), ("Kiss", "Promise", "Love", "Heart")),
    "Sci-Fi": (("Space", "Quantum", "Star", "Cyber", "Lunar"), ("Time", "Colony", "Signal", "Machine")),
}


@dataclass(frozen=True)
class Truth:
    """The generating model: biases and factors of every user and item, and each item's genre."""

    user_bias: np.ndarray  # (N_USERS,)
    item_bias: np.ndarray  # (N_ITEMS,)
    user_factors: np.ndarray  # (N_USERS, K)
    item_factors: np.ndarray  # (N_ITEMS, K)
    genre: np.ndarray  # (N_ITEMS,) index into GENRES

    def expected(self, users: np.ndarray, items: np.ndarray, clip: bool = True) -> np.ndarray:
        """The noise-free rating of (user index, item index) pairs, clipped to the rating range."""
        raw = (
            GLOBAL_MEAN
            + self.user_bias[users]
            + self.item_bias[items]
            + np.sum(self.user_factors[users] * self.item_factors[items], axis=1)
        )
        return np.clip(raw, *RANGE) if clip else raw


def truth(seed: int = SEED) -> Truth:
    """The tastes and film qualities drawn from seed (the same numbers generate() uses)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, (len(GENRES), K))
    genre = rng.integers(0, len(GENRES), N_ITEMS)
    item_factors = centres[genre] + rng.normal(0.0, SCATTER, (N_ITEMS, K))
    user_factors = rng.normal(0.0, FACTOR_SD, (N_USERS, K))
    user_bias = rng.normal(0.0, USER_BIAS_SD, N_USERS)
    item_bias = rng.normal(0.0, ITEM_BIAS_SD, N_ITEMS)
    return Truth(user_bias, item_bias, user_factors, item_factors, genre)


def user_id(index: int) -> str:
    """The id a user index is written as (1-based, like MovieLens's)."""
    return str(index + 1)


def item_id(index: int) -> str:
    """The id an item index is written as (1-based, like MovieLens's)."""
    return str(index + 1)


def _titles(rng: np.random.Generator, genre: np.ndarray) -> list[str]:
    """An invented, unique title per film, some with ':' and '&' (kept exactly through the layout)."""
    titles, seen = [], set()
    for g in genre:
        first, second = WORDS[GENRES[g]]
        a, (b, c) = rng.choice(first), rng.choice(second, size=2, replace=False)
        form = rng.integers(0, 4)
        text = [f"The {a} {b}", f"{b} & {c}", f"{a} {b}: Part {rng.integers(2, 5)}", f"{a} {b}"][form]
        year = int(rng.integers(1960, 2024))
        title = f"{text} ({year})"
        while title in seen:
            year += 1
            title = f"{text} ({year})"
        seen.add(title)
        titles.append(title)
    return titles


def generate(seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """The ratings (user, item, rating), the items (item, title, genre) and the noise floor."""
    model = truth(seed)
    rng = np.random.default_rng(seed + 1)
    users, items = [], []
    for u in range(N_USERS):
        chosen = np.sort(rng.choice(N_ITEMS, size=int(rng.integers(*PER_USER, endpoint=True)), replace=False))
        users.append(np.full(len(chosen), u))
        items.append(chosen)
    u, i = np.concatenate(users), np.concatenate(items)
    noisy = model.expected(u, i, clip=False) + rng.normal(0.0, NOISE_SD, len(u))
    rating = np.clip(np.round(noisy * 2) / 2, *RANGE)  # half stars, as MovieLens's
    floor = float(np.sqrt(np.mean((model.expected(u, i) - rating) ** 2)))
    ratings = pd.DataFrame(
        {"user": [user_id(x) for x in u], "item": [item_id(x) for x in i], "rating": rating}
    )
    films = pd.DataFrame(
        {
            "item": [item_id(x) for x in range(N_ITEMS)],
            "title": _titles(rng, model.genre),
            "genre": [GENRES[g] for g in model.genre],
        }
    )
    return ratings, films, floor


def generate_ratings(name: str = "ratings_synth", seed: int = SEED):
    """Write the dataset once into workspace/datasets/<name>; returns its folder."""
    target, tmp = drawn_folder(name)
    if tmp is None:
        return target
    with _removed_on_failure(tmp):
        ratings, films, floor = generate(seed)
        write_csv(ratings, tmp / RATINGS_CSV)
        write_csv(films, tmp / ITEMS_CSV)
        meta = {
            "task": "collaborative",
            "title": "Ratings (synthetic)",
            "description": (
                f"{len(ratings):,} ratings (0.5 to 5 stars) of {N_ITEMS} invented films by {N_USERS} "
                f"people, drawn from seed {seed}: each rating is an average plus how generous the "
                f"person is, how good the film is, how well {K} hidden tastes match the film's, and "
                f"noise. Each film belongs to one of {len(GENRES)} genres that shape its tastes, so "
                "the learned film embeddings should gather by genre. The noise sets the best "
                f"achievable RMSE, about {floor:.3f}: compare a model's RMSE with it."
            ),
            "source": f"generated from seed {seed}",
            "roles": RatingRoles().to_json(),
            "split": Split().to_json(),
            "noise_sd": NOISE_SD,
            "noise_floor": round(floor, 6),
            "rows": len(ratings),
            "seed": seed,
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
    return _publish(tmp, target)


def info():
    """The built-in ratings_synth (generated into the workspace on first use) as the registry describes it."""
    from core.data.datasets import BUILTINS, DatasetInfo

    folder = generate_ratings("ratings_synth")
    return DatasetInfo(
        "ratings_synth", folder, "Ratings (synthetic)", BUILTINS["ratings_synth"], 32, "collaborative"
    )
