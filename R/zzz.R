# Load-time registration of methods on generics of Suggested packages.

.onLoad <- function(libname, pkgname) {
  register_inference_methods(pkgname)
  register_lme4_methods(pkgname)
}

# lme4 defines its own isREML() and ngrps() generics; when lme4 is attached after
# lemma they mask lemma's, so lemma's methods are registered on lme4's generics too.
register_lme4_methods <- function(pkgname = "lemma") {
  reg <- function(...) {
    ns <- asNamespace(pkgname)
    l4 <- asNamespace("lme4")
    for (g in c("isREML", "ngrps")) {
      if (exists(g, envir = l4, inherits = FALSE))
        registerS3method(g, "lemma_fit", get(paste0(g, ".lemma_fit"), envir = ns), envir = l4)
    }
  }
  if (isNamespaceLoaded("lme4")) reg()
  setHook(packageEvent("lme4", "onLoad"), reg)
  invisible(TRUE)
}
