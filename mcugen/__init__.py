"""mcugen: compile TensorFlow Lite models to plain C for microcontrollers."""

__version__ = "0.1.0"
__all__ = ["Interpreter", "__version__"]


def __getattr__(name):
    # Imported lazily so `mcugen --help` and the front end do not pay for ctypes and the compiler.
    if name == "Interpreter":
        from .interpreter import Interpreter

        return Interpreter
    raise AttributeError(name)
