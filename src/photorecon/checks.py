"""The numbers a user gives (sensitivity, dilation, strength, quality), each checked once here:
the command line checks them where it declares the option, the Python API and the server when
they are passed in. Each raises one line naming `where` and the problem."""

from __future__ import annotations

from photorecon.errors import PhotoreconError


def _number(value: object, kind: type, where: str, expected: str):
    try:
        return kind(str(value).strip())
    except ValueError:
        raise PhotoreconError(f"{where} must be {expected}, got {value!r}") from None


def check_sensitivity(value: object, where: str = "sensitivity") -> float:
    """A sensitivity strictly between 0 and 1."""
    number = _number(value, float, where, "a number between 0 and 1")
    if not 0.0 < number < 1.0:
        raise PhotoreconError(f"{where} must be between 0 and 1 (exclusive), got {number:g}")
    return number


def check_dilate(value: object, where: str = "dilate") -> int:
    """A dilation of 0 to 64 whole pixels."""
    number = _number(value, int, where, "a whole number of pixels")
    if not 0 <= number <= 64:
        raise PhotoreconError(f"{where} must be between 0 and 64 pixels, got {number}")
    return number


def check_strength(value: object, where: str = "strength") -> float:
    """A strength from 0 to 1 (a blend toward the input)."""
    number = _number(value, float, where, "a number from 0 to 1")
    if not 0.0 <= number <= 1.0 or number != number:
        raise PhotoreconError(f"{where} must be from 0 to 1, got {value!r}")
    return number


def check_quality(value: object, where: str = "quality") -> int:
    """A JPEG/WebP quality from 1 to 100."""
    number = _number(value, int, where, "a whole number from 1 to 100")
    if not 1 <= number <= 100:
        raise PhotoreconError(f"{where} must be 1-100, got {number}")
    return number
