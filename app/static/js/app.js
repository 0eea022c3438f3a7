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
