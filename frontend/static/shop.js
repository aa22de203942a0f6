// The demo shop's own code, using the widget's JavaScript API the way a shop
// would: the stub queues calls made before widget.js has loaded.
window.Kefu = window.Kefu || { q: [] };
["open", "close", "identify", "setDepartment", "on"].forEach(function (m) {
  window.Kefu[m] = window.Kefu[m] || function () { window.Kefu.q.push([m, [].slice.call(arguments)]); };
});
document.getElementById("ask").addEventListener("click", function () { window.Kefu.open(); });
