/* The camera: reads label QR codes with the browser's BarcodeDetector where it has one, and otherwise
 * sends a frame now and then to the server (POST /scan/decode, zxing-cpp), which reads them everywhere. */
(function (global) {
  "use strict";

  function Camera(options) {
    this.video = options.video;
    this.status = options.status;
    this.csrf = options.csrf;
    this.onText = options.onText;
    this.continuous = !!options.continuous;
    this.stream = null;
    this.detector = null;
    this.running = false;
    this.last = { text: null, at: 0 };
  }

  Camera.prototype.say = function (key, extra) {
    if (this.status) this.status.textContent = (this.status.dataset[key] || "") + (extra || "");
  };

  Camera.prototype.start = async function () {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { this.say("denied"); return false; }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 } }, audio: false });
    } catch (e) {
      this.say("denied");
      return false;
    }
    this.video.srcObject = this.stream;
    this.video.hidden = false;
    await this.video.play();
    this.detector = await nativeDetector();
    this.running = true;
    this.say(this.detector ? "looking" : "server");
    this.loop();
    return true;
  };

  Camera.prototype.stop = function () {
    this.running = false;
    if (this.stream) this.stream.getTracks().forEach(function (track) { track.stop(); });
    this.stream = null;
    this.video.hidden = true;
  };

  Camera.prototype.loop = async function () {
    while (this.running) {
      var texts = [];
      try {
        texts = this.detector ? await this.readNative() : await this.readOnServer();
      } catch (e) {
        texts = [];
      }
      for (var i = 0; i < texts.length && this.running; i++) this.found(texts[i]);
      await pause(this.detector ? 150 : 700);
    }
  };

  Camera.prototype.found = function (text) {
    var now = Date.now();
    if (text === this.last.text && now - this.last.at < 3000) return;  // one label, held still, is one scan
    this.last = { text: text, at: now };
    this.say("found", "");
    if (!this.continuous) this.stop();
    this.onText(text);
  };

  Camera.prototype.readNative = async function () {
    var codes = await this.detector.detect(this.video);
    return codes.map(function (code) { return code.rawValue; });
  };

  Camera.prototype.readOnServer = async function () {
    if (!this.video.videoWidth) return [];
    var scale = Math.min(1, 1280 / this.video.videoWidth);
    var canvas = document.createElement("canvas");
    canvas.width = Math.round(this.video.videoWidth * scale);
    canvas.height = Math.round(this.video.videoHeight * scale);
    canvas.getContext("2d").drawImage(this.video, 0, 0, canvas.width, canvas.height);
    var frame = await new Promise(function (done) { canvas.toBlob(done, "image/jpeg", 0.85); });
    if (!frame) return [];
    var answer = await fetch("/scan/decode", {
      method: "POST", body: frame, credentials: "same-origin",
      headers: { "Content-Type": "image/jpeg", "X-CSRF-Token": this.csrf } });
    if (!answer.ok) return [];
    return (await answer.json()).texts || [];
  };

  async function nativeDetector() {
    if (!("BarcodeDetector" in global)) return null;
    try {
      var formats = await global.BarcodeDetector.getSupportedFormats();
      return formats.indexOf("qr_code") >= 0 ? new global.BarcodeDetector({ formats: ["qr_code"] }) : null;
    } catch (e) {
      return null;
    }
  }

  function pause(ms) { return new Promise(function (done) { setTimeout(done, ms); }); }

  /* Wire the standard camera card (templates/_camera.html) to a handler of what it reads. */
  Camera.attach = function (onText, continuous) {
    var card = document.getElementById("scanner");
    if (!card || !navigator.mediaDevices) return null;
    card.hidden = false;
    var startButton = document.getElementById("camera-start");
    var stopButton = document.getElementById("camera-stop");
    var camera = new Camera({ video: document.getElementById("camera-view"), csrf: card.dataset.csrf,
                              status: document.getElementById("camera-status"), continuous: continuous,
                              onText: function (text) {
                                if (!camera.running) { startButton.hidden = false; stopButton.hidden = true; }
                                onText(text);
                              } });
    startButton.addEventListener("click", async function () {
      if (await camera.start()) { startButton.hidden = true; stopButton.hidden = false; }
    });
    stopButton.addEventListener("click", function () {
      camera.stop(); startButton.hidden = false; stopButton.hidden = true;
    });
    return camera;
  };

  global.Camera = Camera;
})(window);
