// Keyboard shortcuts of the review screen: 1-9 pick an answer, C edits the correction,
// Ctrl/Cmd+Enter saves, S skips, Esc leaves a text box. Keys typed into a text box stay
// text, except Ctrl+Enter and Esc.
(function () {
  var form = document.getElementById("annotate");
  if (!form) return;
  function press(action) {
    var button = form.querySelector("button[value=" + action + "]");
    if (action === "skip") { form.noValidate = true; }
    if (form.requestSubmit) { form.requestSubmit(button); } else { button.click(); }
  }
  document.addEventListener("keydown", function (event) {
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName) &&
      event.target.type !== "radio";
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      press("score");
      return;
    }
    if (event.key === "Escape" && typing) { event.target.blur(); return; }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    var choice = form.querySelector("input[data-key='" + event.key + "']");
    if (choice) { choice.checked = true; event.preventDefault(); return; }
    if (event.key === "c" || event.key === "C") {
      event.preventDefault();
      form.querySelector("textarea[name=correction]").focus();
    } else if (event.key === "s" || event.key === "S") {
      event.preventDefault();
      press("skip");
    }
  });
})();
