"""`photorecon serve`: the web page and the JSON/multipart API."""

from __future__ import annotations

import argparse

from photorecon.cli.options import Command, add_diffusion, model_options


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    p.add_argument("--model", help="default model (default: the best shipped model)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload in MiB (20)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (auto)")
    p.add_argument(
        "--queue", type=int, default=8, help="fills waiting or running at most; more get 503 (8)"
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds a fill may take before 503 (120)"
    )
    add_diffusion(p)


def run(args: argparse.Namespace) -> None:
    import uvicorn

    from photorecon.device import resolve_device
    from photorecon.serve.app import create_app

    app = create_app(
        max_upload_mb=args.max_upload_mb,
        device=str(resolve_device(args.device)),
        default_model=args.model,
        queue=args.queue,
        timeout=args.timeout,
        model_options=model_options(args) if args.model else None,
    )
    print(f"photorecon: serving on http://{args.host}:{args.port} (API docs at /docs)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


COMMANDS = (Command("serve", "serve the web page and the JSON/multipart API", add_arguments, run),)
