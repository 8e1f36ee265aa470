"""Validation recall@10 for each rank prior of saved re-rankers, on the list a worker re-ranks now.

    PYTHONPATH=. python scripts/reranker_validation.py VERSION [VERSION ...]

The held-out texts are those `coldstart finetune --reranker` holds out (same pairs, fraction and
seed: train split only); their candidates are today's hybrid list under the served encoder, so a
re-ranker trained on an older list can be compared with one trained on this one. The README's
re-ranker section quotes it.
"""
import argparse
import json

from coldstart.encoder import registry as model_registry
from coldstart.encoder.encoder import load_encoder
from coldstart.encoder.reranker import load_reranker
from coldstart.evaluation.datasets import load_home_depot
from coldstart.evaluation.vector_cache import item_vectors
from coldstart.finetune.pairs import split_by_text
from coldstart.finetune.reranker import RerankerConfig, choose_rank_prior, graded_pairs, hybrid_candidates

DEPTH = 30  # the worker's COLDSTART_RERANK_DEPTH


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("versions", nargs="+", help="model versions with a re-ranker")
    parser.add_argument("--encoder", default="all-MiniLM-L6-v2-ft-0b389b41", help="the encoder whose list is re-ranked")
    args = parser.parse_args()
    data = load_home_depot()  # only its train split is read
    titles = {int(pid): text for pid, text in zip(data.catalogue.ids, data.catalogue.texts)}
    config = RerankerConfig()
    _, val = split_by_text(graded_pairs(data.train, titles), config.val_fraction, config.seed)
    texts = sorted({p.text for p in val})
    encoder = load_encoder(str(model_registry.resolve(args.encoder)), cache_size=0)
    candidates = hybrid_candidates(texts, data.catalogue.texts, item_vectors(encoder, data.catalogue),
                                   encoder.encode_users(texts, batch_size=128), DEPTH)
    for version in args.versions:
        model = load_reranker(str(model_registry.resolve(version)), threads=2)
        recall = choose_rank_prior(model, val, candidates, DEPTH)
        by_prior = {k: round(v, 4) for k, v in recall.items()}
        print(json.dumps({"version": version, "val_recall@10_by_rank_prior": by_prior,
                          "best_rank_prior": model.rank_prior}), flush=True)


if __name__ == "__main__":
    main()
