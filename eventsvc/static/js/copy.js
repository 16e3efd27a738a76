/* Copy buttons for values shown once (a new API token, a staff link): progressive enhancement of
   ``_macros/ui.html: copy_field``. Without JavaScript the read-only field is still there to copy by
   hand. The Clipboard API needs a secure context (HTTPS or localhost); elsewhere the field's text is
   selected and copied with the older execCommand, and if that fails too the page says so. */
(function () {
  "use strict";
  function select(field) {
    field.focus();
    field.select();
    field.setSelectionRange(0, field.value.length);
  }
  function oldWay(field) {
    select(field);
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }
  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) { return; }
    var status = button.parentNode.querySelector(".copy-status");
    button.hidden = false;
    field.addEventListener("focus", function () { field.select(); });
    function tell(ok) {
      if (!ok) { select(field); }
      if (status) { status.textContent = button.getAttribute(ok ? "data-copied" : "data-copy-failed"); }
    }
    button.addEventListener("click", function () {
      if (status) { status.textContent = ""; }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () { tell(true); },
                                                         function () { tell(oldWay(field)); });
      } else {
        tell(oldWay(field));
      }
    });
  });
})();
