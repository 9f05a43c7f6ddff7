# Registration of the inference package's methods on Suggested packages' generics.
# The lead's .onLoad calls register_inference_methods().

# Registers recover_data/emm_basis for emmeans and tidy/glance/augment for the
# generics package, for whichever of them is installed; re-registers when they are
# loaded later.
register_inference_methods <- function(pkgname = "lemma") {
  ns <- asNamespace(pkgname)
  reg_emmeans <- function(...) {
    emmeans::.emm_register("lmm", pkgname)
  }
  reg_generics <- function(...) {
    gns <- asNamespace("generics")
    for (g in c("tidy", "glance", "augment"))
      registerS3method(g, "lmm", get(paste0(g, ".lmm"), envir = ns), envir = gns)
  }
  if (requireNamespace("emmeans", quietly = TRUE)) {
    if (isNamespaceLoaded("emmeans")) reg_emmeans()
    setHook(packageEvent("emmeans", "onLoad"), reg_emmeans)
  }
  if (requireNamespace("generics", quietly = TRUE)) {
    reg_generics()
    setHook(packageEvent("generics", "onLoad"), reg_generics)
  }
  invisible(TRUE)
}
