"""The ``tiledeblur`` command: ``run``, ``plan``, ``convert`` and ``demo``.

It parses arguments and hands them to :mod:`tiledeblur.commands`, which
calls the public functions. It imports that module, and with it dask,
scipy and autograd, only once the arguments parse, so that ``--help`` and a
bad option answer at once. Bad input
ends with one line on stderr (after argparse's usage where an option is
malformed) and exit status 2, without a traceback. The public functions name
their arguments in their messages; here those names become the options the
user typed (``n_workers`` is ``--workers``).
"""

import argparse
import os
import re
import signal
import sys
import threading
import warnings

from ._version import __version__

__all__ = ["console", "in_option_terms", "main"]

#: The options and operands that the public functions' argument names stand for.
OPTION_NAMES = {
    "zarr_path": "INPUT", "psf": "--psf", "component": "--component", "channel_axis": "--channel-axis",
    "tile": "--tile", "halo": "--halo", "loss": "--loss", "mu": "--mu", "n_workers": "--workers",
    "address": "--address", "output": "--out", "out_dtype": "--out-dtype", "size": "--size", "out_dir": "--out",
    "chunk": "--chunk", "image": "IMAGE", "missing_value": "--missing-value", "eps": "--eps", "tol": "--tol",
    "ome": "--ome", "nonneg": "--nonneg", "denoise": "--no-denoise",
}
#: Where a command names an argument otherwise.
COMMAND_OPTION_NAMES = {"convert": {"output": "OUTPUT"}}
#: The advice in messages, in the command line's terms.
ADVICE = {"pass overwrite=True": "pass --overwrite", "without overwrite=True": "without --overwrite",
          "pass ome=False": "pass --no-ome", "pass ome=True": "pass --ome",
          "out_dtype='input'": "--out-dtype input", "as missing_value": "as --missing-value",
          "pass missing_value": "pass --missing-value", "pass nonneg=True": "pass --nonneg",
          "pass channel_axis=None": "leave out --channel-axis", "pass channel_axis=": "pass --channel-axis "}
#: Python's values in messages, in the command line's words: an option is given or not, never None or False.
LITERALS = {" or None,": " or none,", "expected None for": "expected none for"}


def _psf(text):
    """``gaussian:SIZE,SIGMA`` or ``gaussian:SIZE,SIGMA0,SIGMA1``, or a path for load_psf."""
    prefix = "gaussian:"
    if text[:len(prefix)].lower() != prefix:  # Gaussian: too (found by a probe: taken for a path)
        return text
    from .psf import gaussian_psf  # only here: scipy takes a while to import (see main)

    try:
        size, *sigma = text[len(prefix):].split(",")
        size = int(size)
        if len(sigma) not in (1, 2):
            raise ValueError(f"{len(sigma)} sigmas")
        return gaussian_psf(size, tuple(float(s) for s in sigma) if len(sigma) == 2 else float(sigma[0]))
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(
            f"expected gaussian:SIZE,SIGMA or gaussian:SIZE,SIGMA0,SIGMA1 with odd SIZE, got {text!r} ({error})"
        ) from None


def _number(text):
    """An int where ``text`` is one, so that a uint64 or int64 count keeps every digit; else a float."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _auto_or(kind, what):
    def parse(text):
        if text == "auto":
            return text
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected 'auto' or {what}, got {text!r}") from None

    parse.__name__ = f"auto or {kind.__name__}"
    return parse


class _Once(argparse.Action):
    """Store an option's value, refusing it a second time: one for every channel, where ``--mu`` and ``--psf`` take
    one per channel.

    Found by a probe: ``--eps`` given once per channel kept the last for all, without a word.
    """

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest) is not None:
            parser.error(f"{option_string}: expected once, for every channel (only --mu and --psf take one per "
                         "channel), got it twice")
        setattr(namespace, self.dest, values)


class _Weights(argparse.Action):
    """``--mu``'s values, one for every channel or one per channel, or ``auto`` once: each channel's own weight.

    Found by a probe: ``--mu 0.01 --mu auto`` was refused as "got [0.01, 'auto']", a Python list.
    """

    def __call__(self, parser, namespace, values, option_string=None):
        given = [*(getattr(namespace, self.dest) or []), values]
        if "auto" in given and len(given) > 1:
            parser.error(f"{option_string}: expected auto once (each channel's own weight), or numbers, once for "
                         f"every channel or once per channel, got {' '.join(f'{option_string} {mu}' for mu in given)}")
        setattr(namespace, self.dest, given)


def _add_problem_options(parser):
    parser.add_argument("input", help="the Zarr array or group (a path or an fsspec URL); opened read-only")
    parser.add_argument("--psf", required=True, type=_psf, action="append",
                        help="required: a .npy/.tif/.fits/Zarr PSF file, or gaussian:SIZE,SIGMA0,SIGMA1 "
                             "(sigma per axis, rows first; gaussian:SIZE,SIGMA for both); once for every "
                             "channel, or once per channel in their order, or a file of a (C, P, Q) or (P, Q, C) stack")
    parser.add_argument("--component", help="the array inside a group (default: OME-Zarr level 0)")
    parser.add_argument("--channel-axis", type=int,
                        help="channels' axis: 0 (cyx), -1 (yxc), or 1 for a plain tczyx array "
                             "(default: none, or OME-Zarr's)")
    parser.add_argument("--tile", type=_auto_or(int, "an int"), default="auto",
                        help="core tile side in px, rounded down to whole output chunks of up to 512 px (default: auto, from memory)")
    parser.add_argument("--halo", type=_auto_or(int, "an int"), default="auto",
                        help="pixels read around each tile, at least the PSF radius (default: auto, from PSF and mu)")
    parser.add_argument("--loss", choices=["auto", "laplacian", "nlmeans", "tikhonov", "tv"], default=None,
                        help="the loss: laplacian or tikhonov (quadratic, of second or first order), nlmeans "
                             "(solves of the data alternated with a denoiser; 3 to 4 times slower), "
                             "smoothed total variation, or auto: laplacian, nlmeans or a mix of the two, whichever "
                             "an estimate of its error on sample regions favours (default: auto, or laplacian with "
                             "a given --mu)")
    parser.add_argument("--mu", type=_auto_or(float, "a number"), action=_Weights,
                        help="regularization weight, on the image's [0, 1] scale (integer images are divided "
                             "by their dtype's maximum; for a float image's values off it, tv's weight scales with "
                             "them and nlmeans' with their square), or auto by cross-validation on the image, each "
                             "channel's own; a number once for every channel, or once per channel in their order "
                             "(default: auto)")
    # The solvers' defaults are not imported: the options are read before the solvers (see main).
    parser.add_argument("--eps", type=float, action=_Once,
                        help="tv's smoothing of edges, on the scale of --mu: scale both with values that do not "
                             "fill [0, 1]; with tv alone (default: 0.03)")
    parser.add_argument("--nonneg", action="store_true",
                        help="keep the result non-negative, for fluorescence and astronomy (slower)")
    parser.add_argument("--no-denoise", dest="denoise", action="store_false",
                        help="leave laplacian's and tikhonov's solve as it is, without the pass of a denoiser "
                             "(non-local means and DCT shrinkage, averaged) that removes the noise it leaves")
    parser.add_argument("--missing-value", type=_number, metavar="VALUE", action=_Once,
                        help="an input value that marks a pixel without a datum, as NaN does in floats: a "
                             "mosaic's fill (often 0) or a saturated count; left out of the solve, and NaN in "
                             "the output (VALUE with --out-dtype input); write --missing-value=-1e30 for a negative one "
                             "(default: the input's own, its CF attribute _FillValue or missing_value, else none)")


def _add_cluster_options(parser):
    parser.add_argument("--workers", type=int, help="local cluster workers (default: one per core this process may use)")
    parser.add_argument("--address", help="an existing dask scheduler, such as tcp://host:8786")


def _add_run_options(parser):
    _add_problem_options(parser)
    parser.add_argument("--out", help="output Zarr path (default: beside the input, scan.deblurred.zarr for scan.zarr)")
    _add_cluster_options(parser)
    parser.add_argument("--tol", type=float, action=_Once,
                        help="stop each tile's solve within about this of its minimum, relative to the tile's "
                             "range of values but for its brightest tenth (default: 1e-4)")
    parser.add_argument("--out-dtype", choices=["float32", "float64", "input"], default="float32",
                        help="output dtype; 'input' clips to the input dtype's range (default: %(default)s)")
    # Either, not both (found by a probe: the last of both was taken without a word).
    ome = parser.add_mutually_exclusive_group()
    ome.add_argument("--ome", action="store_const", const=True,
                     help="write OME-Zarr with a pyramid (default: OME-Zarr when the input is)")
    ome.add_argument("--no-ome", dest="ome", action="store_const", const=False, help="write a plain array")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output of tiledeblur, never other data (default: resume this "
                             "run's own output, refuse others)")
    parser.add_argument("--no-resume", action="store_true",
                        help="refuse an existing output instead of resuming it (default: resume)")
    parser.add_argument("--preview", metavar="PNG",
                        help="also write the centre before and after to this picture: PNG, or another format "
                             "that Pillow writes, such as .jpg or .tif (default: none)")


def _parser():
    # No abbreviations: "--over" must not pass for the destructive --overwrite.
    parser = argparse.ArgumentParser(prog="tiledeblur", description="Deblur Zarr images larger than memory.",
                                     allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND", dest="command")

    run_parser = commands.add_parser(
        "run", allow_abbrev=False, help="deblur a Zarr image on a dask cluster",
        description="Deblur a Zarr image, tile by tile, on a local dask cluster or the scheduler at --address, into a "
                    "new Zarr store, and print the dashboard's link and the progress. An interrupted run resumes when "
                    "run again without --overwrite; plan prints what run will do and computes nothing.")
    _add_run_options(run_parser)
    plan_parser = commands.add_parser(
        "plan", allow_abbrev=False, help="print the tile plan of run's options; solve no tile, write nothing",
        description="Print the tile plan of a run; solve no tile, write nothing. plan takes run's options, so that a "
                    "run's command line plans with plan in its place. It refuses an existing output as run would, with "
                    "--overwrite and --no-resume, and counts the tiles that run would resume; it refuses a --preview "
                    "as run would, writing none, and checks --tol and --nonneg only as run would refuse them.")
    _add_run_options(plan_parser)

    convert_parser = commands.add_parser("convert", allow_abbrev=False, help="import a TIFF/FITS/PNG/JPEG scan into Zarr")
    convert_parser.add_argument("image", help="the image file")
    convert_parser.add_argument("output", help="the new Zarr path")
    convert_parser.add_argument("--chunk", type=int, default=512, help="chunk side in px (default: %(default)s)")
    convert_parser.add_argument("--ome", action="store_true",
                                help="write an OME-Zarr 0.5 group with a pyramid (default: a plain array)")

    demo_parser = commands.add_parser("demo", allow_abbrev=False, help="make a scan from skimage.data, deblur it, write a picture")
    demo_parser.add_argument("--size", type=int, default=2048,
                             help="scan side in px, at least 310; 32768 is a gigapixel (default: %(default)s)")
    demo_parser.add_argument("--out", default="tiledeblur-demo",
                             help="folder for the scan, output and picture (default: %(default)s)")
    demo_parser.add_argument("--workers", type=int, help="local cluster workers (default: one per core)")
    for command_parser in commands.choices.values():
        command_parser.set_defaults(command_parser=command_parser)
    return parser


def in_option_terms(message, command=None):
    """``message`` with the argument it names, and its advice, in the command line's terms.

    Scripts with options of the same names (``examples/``) put the library's
    messages in their terms with it (found by a probe: ``--workers 0`` was
    told of ``n_workers``).

    Examples
    --------
    >>> in_option_terms("n_workers: expected at least 1, got 0 instead.", "run")
    '--workers: expected at least 1, got 0 instead.'
    >>> in_option_terms("output: expected a new path, got 'a.zarr', which exists; pass overwrite=True.", "run")
    "--out: expected a new path, got 'a.zarr', which exists; pass --overwrite."
    >>> in_option_terms("mu[1]: expected a positive finite number, got -1.0 instead.", "run")
    '--mu number 2: expected a positive finite number, got -1.0 instead.'
    >>> in_option_terms("2 of 4 tiles failed; the first raised ValueError: zarr_path: expected readable chunks", "run")
    '2 of 4 tiles failed; the first raised ValueError: INPUT: expected readable chunks'
    """
    names = {**OPTION_NAMES, **COMMAND_OPTION_NAMES.get(command, {})}
    message = re.sub(r"^\w+", lambda name: names.get(name.group(), name.group()), message)
    # A failed tile's error, quoted by the run's (found by a probe).
    message = re.sub(r"(raised \w+: )(\w+)(?=:)", lambda found: found[1] + names.get(found[2], found[2]), message)
    # An option given once per channel counts from 1, as people count them, where a Python list's index counts from 0.
    message = re.sub(r"^(--\w[\w-]*)\[(\d+)\]", lambda found: f"{found[1]} number {int(found[2]) + 1}", message)
    for python, words in (*ADVICE.items(), *LITERALS.items()):
        message = message.replace(python, words)
    return message


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """One line per warning, without the source line that Python shows."""
    print(f"tiledeblur: {category.__name__}: {in_option_terms(str(message), None)}", file=sys.stderr)


class Terminated(KeyboardInterrupt):
    """SIGTERM, which a batch system sends when a job's time is up: it stops a run as Ctrl-C does."""


def _terminate(signal_number, frame):
    raise Terminated


def console():
    """The ``tiledeblur`` command: :func:`main`'s exit status, after which Ctrl-C and SIGTERM are ignored.

    The command is done then, and the interpreter joins dask's threads on its
    way out: a signal there printed a KeyboardInterrupt traceback (found by a
    probe). :func:`main` itself leaves the signals as they were, for a caller
    in the same process.
    """
    status = main()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    return status


def main(argv=None):
    """Run the command line; return the exit status."""
    # Only the main thread may set a handler.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        return _run_command(argv)
    except KeyboardInterrupt as interruption:
        # The cluster is shut down on the way out; finished tiles stay written. Only run resumes them: plan
        # writes nothing, and convert refuses its own output (found by a probe). With --overwrite the same
        # command would start anew, each time (found by a probe).
        terminated = isinstance(interruption, Terminated)
        arguments = [str(argument) for argument in (sys.argv[1:] if argv is None else argv)]
        advice = ""
        if arguments[:1] == ["run"]:
            advice = ("; run it again without --overwrite to resume" if "--overwrite" in arguments
                      else "; run the same command again to resume")
        print(f"tiledeblur: {'terminated' if terminated else 'interrupted'}{advice}", file=sys.stderr)
        return 128 + (signal.SIGTERM if terminated else signal.SIGINT)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run_command(argv):
    arguments, unknown = _parser().parse_known_args(argv)
    if unknown:
        # The command's usage, with its options: argparse's own error shows the top level's (found by a probe).
        arguments.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    # dask, scipy and autograd take a second or more to import: only now, so
    # that --help and a bad option answer at once, and Ctrl-C meanwhile is
    # one line too (this module and the package import none of them).
    from .commands import COMMANDS
    from .pipeline import TileError

    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return COMMANDS[arguments.command](arguments)
    except (ValueError, TypeError) as error:
        message = in_option_terms(str(error), arguments.command)
        if message.startswith("--out:") and getattr(arguments, "out", "") is None:
            # Not blamed on an option that was not given (found by a probe: an input served over HTTP).
            message = "--out (not given, so beside the input):" + message.removeprefix("--out:")
        print(f"tiledeblur: error: {message}", file=sys.stderr)
        return 2
    except TileError as error:
        print(f"tiledeblur: {in_option_terms(str(error), arguments.command)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # Standard output's reader left (``| head -1``): it tells only of work done, which a finished run's status
        # must not deny (found by a probe: all tiles written, then an error). Python would flush it again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:  # a full or read-only disk, outside the tiles (found by a probe)
        print(f"tiledeblur: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
