"""``flask vision sweep | worker | export | detectors``."""
import click
from flask import current_app
from flask.cli import AppGroup

vision = AppGroup("vision", help="图像识别 Vision: detectors, workers, the sweeper, exports.")


@vision.command("sweep")
@click.option("--backfill", is_flag=True, help="also create requests for photos of records not analysed by every active detector")
def sweep_command(backfill):
    """Re-queue pending analyses (Redis was down), restart those whose worker died."""
    from .pipeline import sweep
    counts = sweep(backfill=backfill)
    click.echo("vision sweep: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


@vision.command("worker")
@click.option("--burst", is_flag=True, help="exit when the queue is empty")
def worker_command(burst):
    """An RQ worker for the vision queue that keeps the models loaded (no fork per job)."""
    from .worker import make_worker, preload
    preload()
    make_worker().work(burst=burst, with_scheduler=True)


@vision.command("export")
@click.option("--status", type=click.Choice(["dismissed", "confirmed", "suggested"]), default="dismissed")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True), required=True)
def export_command(status, out_path):
    """Write the detections with this review status and their images as a YOLO dataset zip."""
    from .review import export_yolo
    data, count = export_yolo(None, status)
    with open(out_path, "wb") as f:
        f.write(data)
    click.echo(f"exported {count} detections ({status}) to {out_path}")


@vision.command("detectors")
@click.option("--load", "load_models", is_flag=True, help="also load each model (checks weights, shims, classes)")
def detectors_command(load_models):
    """List the active detectors and their versions."""
    from . import detectors, inference
    for d in detectors.active(current_app):
        click.echo(f"{d.name:<12} {d.version:<32} conf={d.conf} {d.path}")
        if load_models:
            inference.load(d, current_app.config["VISION_DEVICE"])
            click.echo("  loaded ok")


def init_app(app):
    app.cli.add_command(vision)
