"""`photorecon models`: the registered models, their sizes and whether weights ship."""

from __future__ import annotations

import argparse

from photorecon.cli.options import Command, console


def run(args: argparse.Namespace) -> None:
    from rich.table import Table

    from photorecon.checkpoint import read_meta
    from photorecon.models.files import shipped_weights
    from photorecon.models.registry import (
        count_parameters,
        create_model,
        get_model_info,
        list_models,
    )

    table = Table(title="photorecon models")
    for col in ("model", "kind", "parameters", "trainer", "weights", "summary"):
        table.add_column(col, justify="right" if col == "parameters" else "left")
    for name in list_models():
        info = get_model_info(name)
        if info.kind == "diffusion":  # its weights are the user's: a diffusers folder
            table.add_row(name, info.kind, "-", "lora", "--model FOLDER", info.summary)
            continue
        shipped = shipped_weights(name) if info.trainable else None
        kwargs = read_meta(shipped).kwargs if shipped else {}  # the shipped net's own size
        params = count_parameters(create_model(name, **kwargs))
        if not info.trainable:
            weights, trainer = "none needed", "-"
        else:
            weights = "shipped" if shipped else "train first"
            trainer = info.trainer
        table.add_row(name, info.kind, f"{params:,}", trainer, weights, info.summary)
    console().print(table)


COMMANDS = (Command("models", "list registered models with their parameter counts", None, run),)
