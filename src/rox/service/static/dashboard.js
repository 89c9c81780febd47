// Draws each figure of the page: its plotly spec is inert JSON in <script class="rox-figure">.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("script.rox-figure").forEach(function (element) {
    var spec = JSON.parse(element.textContent);
    var target = document.createElement("div");
    target.className = "plot";
    element.parentNode.insertBefore(target, element);
    var layout = spec.layout || {};
    layout.autosize = true;
    Plotly.newPlot(target, spec.data || [], layout, { responsive: true, displaylogo: false });
  });
});
