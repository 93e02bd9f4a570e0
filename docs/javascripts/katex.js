// Typeset only what pymdownx.arithmatex emitted (\( \) inline, \[ \] display), on first load
// and after every instant navigation (Material's document$ observable).
document$.subscribe(({ body }) => {
  body.querySelectorAll(".arithmatex").forEach((el) => {
    renderMathInElement(el, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false, // bad TeX becomes a red .katex-error, which the browser tests catch
    });
  });
});
