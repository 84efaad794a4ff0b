"""Maximum error of each sigmoid / SiLU implementation against the float functions.

Exhaustive over every representable input in [-input_range, input_range) of the
default row-wise format (Q7.16). The RTL equals the golden model bit for bit,
so these are the hardware's errors too.

    python benchmarks/sigmoid_error.py
"""

from rtl.sigmoid import error_table


def main() -> None:
    print("| implementation | max sigmoid error | max SiLU error |")
    print("|---|---|---|")
    for row in error_table():
        label = (f"LUT {row['size']} entries" if row["method"] == "lut"
                 else f"PWL {row['size']} segment{'s' if row['size'] > 1 else ''}")
        print(f"| {label} | {row['sigmoid']:.5f} | {row['silu']:.5f} |")


if __name__ == "__main__":
    main()
