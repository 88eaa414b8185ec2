/* The trace page's look-up: a label read by the camera opens that cylinder's story. */
(function () {
  "use strict";
  var form = document.getElementById("lookup");
  var input = document.getElementById("code");
  window.Camera.attach(function (text) {
    input.value = text;
    form.submit();
  }, false);
})();
