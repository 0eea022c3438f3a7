// Small progressive enhancements; the pages work without them. No inline script anywhere (CSP).
(function () {
  // Account form: show the township or community selector only for the role that needs it.
  var role = document.getElementById("role");
  if (role) {
    var toggle = function () {
      var township = document.getElementById("township_id");
      var community = document.getElementById("community_id");
      if (township) township.closest(".mb-3").hidden = role.value !== "township";
      if (community) community.closest(".mb-3").hidden = role.value !== "community";
      ["evaluator_group", "tied_township_id"].forEach(function (id) {
        var field = document.getElementById(id);
        if (field) field.closest(".mb-3").hidden = role.value !== "evaluator";
      });
    };
    role.addEventListener("change", toggle);
    toggle();
  }
  // Buttons that need a second thought carry data-confirm.
  document.querySelectorAll("[data-confirm]").forEach(function (el) {
    el.addEventListener("click", function (event) {
      if (!window.confirm(el.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
})();
// Print buttons (the printable forms carry data-print).
document.querySelectorAll("[data-print]").forEach(function (el) {
  el.addEventListener("click", function () { window.print(); });
});
// The scoring sheet's 合计 follows what is typed (the page itself shows the saved scores): the sum of the entries
// that read as numbers, full-width digits included, in the points filter's format (two decimals).
(function () {
  var sheet = document.getElementById("sheet-form");
  var total = document.getElementById("sheet-total");
  if (!sheet || !total) return;
  var scores = Array.prototype.filter.call(sheet.querySelectorAll("input"), function (input) {
    return /^c\d+$/.test(input.name);  // the criteria's fields (c<criterion id>), not the token or vetoes
  });
  var update = function () {
    var sum = 0;
    scores.forEach(function (input) {
      var value = Number(input.value.normalize("NFKC").trim());
      if (input.value.trim() !== "" && isFinite(value)) sum += value;
    });
    total.textContent = sum.toFixed(2);
  };
  scores.forEach(function (input) { input.addEventListener("input", update); });
  // A refused save shows the scores as typed, not as saved: the total the server wrote is the saved one.
  if (sheet.querySelector(".is-invalid")) update();
})();
