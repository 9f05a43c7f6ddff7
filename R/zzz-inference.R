# Registration of the inference methods on Suggested packages' generics.
# The lead's .onLoad calls register_inference_methods().

#' Register lemma's methods for emmeans and the generics package (internal)
#'
#' Registers `recover_data.lemma_fit` / `emm_basis.lemma_fit` with emmeans and
#' `tidy.lemma_fit` / `glance.lemma_fit` / `augment.lemma_fit` on the generics package's generics.
#' A package that is already loaded gets them at once; otherwise a load hook
#' registers them when it is loaded, so lemma itself never loads emmeans or
#' generics. Called from lemma's `.onLoad`.
#'
#' @param pkgname lemma's namespace name.
#' @return `TRUE`, invisibly.
#' @keywords internal
#' @noRd
register_inference_methods <- function(pkgname = "lemma") {
  reg_emmeans <- function(...) emmeans::.emm_register("lemma_fit", pkgname)
  reg_generics <- function(...) {
    ns <- asNamespace(pkgname)
    gns <- asNamespace("generics")
    for (g in c("tidy", "glance", "augment"))
      registerS3method(g, "lemma_fit", get(paste0(g, ".lemma_fit"), envir = ns), envir = gns)
    registerS3method("tidy", "lemma_covfit", get("tidy.lemma_covfit", envir = ns), envir = gns)
  }
  if (isNamespaceLoaded("emmeans")) reg_emmeans()
  setHook(packageEvent("emmeans", "onLoad"), reg_emmeans)
  if (isNamespaceLoaded("generics")) reg_generics()
  setHook(packageEvent("generics", "onLoad"), reg_generics)
  invisible(TRUE)
}
