"""The learning-rate finder's four suggestions, in fastai's order (light: no fastai import).

What each one means, in words, is teaching text: assets/text/lr_find.md, one `## name`
section per suggestion, shown by the LR finder page.
"""

SUGGESTIONS = ("valley", "slide", "minimum", "steep")
