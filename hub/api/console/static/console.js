// The console's own script. Pages work without it; it only adds what HTML cannot say.
// No inline script anywhere (the Content-Security-Policy forbids it): behaviour hangs on
// data- attributes.
(function () {
  "use strict";

  // <form data-confirm="Write 42 to setpoint?">: ask before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    }
  }, true);

  // After htmx swaps an error into the message area, move focus there so keyboard and
  // screen-reader users hear it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "console-flash" && target.firstElementChild) {
      target.setAttribute("tabindex", "-1");
      target.focus();
    }
  });
})();
