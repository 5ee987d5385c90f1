// Signature pads: a <canvas data-signature-for="INPUT_ID"> the applicant signs on with a finger or stylus.
// On submit the drawing goes into the hidden input as a PNG data URL; an empty pad leaves the input empty,
// so the server answers "please sign" in Chinese instead of accepting a blank signature.
// A hint inside the pad's wrapper (.signature-wrap) shows until the first stroke and again after 重签.
(function () {
  function setup(canvas) {
    var input = document.getElementById(canvas.dataset.signatureFor);
    var ctx = canvas.getContext("2d");
    var wrap = canvas.closest(".signature-wrap");
    var drawing = false, signed = false;
    function mark(on) { signed = on; if (wrap) wrap.classList.toggle("signed", on); }
    function resize() {
      var ratio = window.devicePixelRatio || 1;
      var rect = canvas.getBoundingClientRect();
      canvas.width = rect.width * ratio; canvas.height = rect.height * ratio;
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.lineWidth = 2.5; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#111";
      mark(false); input.value = "";
    }
    // In drawing units even when the pad's shown size changed since setup (the tablet was turned round).
    function point(e) {
      var r = canvas.getBoundingClientRect(), ratio = window.devicePixelRatio || 1;
      var sx = r.width ? canvas.width / ratio / r.width : 1, sy = r.height ? canvas.height / ratio / r.height : 1;
      return [(e.clientX - r.left) * sx, (e.clientY - r.top) * sy];
    }
    canvas.addEventListener("pointerdown", function (e) {
      drawing = true; canvas.setPointerCapture(e.pointerId);
      var p = point(e); ctx.beginPath(); ctx.moveTo(p[0], p[1]); ctx.lineTo(p[0] + 0.1, p[1] + 0.1); ctx.stroke();
      mark(true); e.preventDefault();
    });
    canvas.addEventListener("pointermove", function (e) {
      if (!drawing) return; var p = point(e); ctx.lineTo(p[0], p[1]); ctx.stroke(); e.preventDefault();
    });
    function end() { if (drawing) { drawing = false; input.value = signed ? canvas.toDataURL("image/png") : ""; } }
    canvas.addEventListener("pointerup", end); canvas.addEventListener("pointerleave", end);
    var clear = document.querySelector('[data-signature-clear="' + canvas.id + '"]');
    if (clear) clear.addEventListener("click", function () { ctx.clearRect(0, 0, canvas.width, canvas.height); mark(false); input.value = ""; });
    resize();
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("canvas[data-signature-for]").forEach(setup);
    // A form re-rendered with an error: bring the message beside the form into view (it may be far down).
    var here = document.querySelector("[data-error-here]");
    if (here) here.scrollIntoView({ block: "center" });
  });
})();
