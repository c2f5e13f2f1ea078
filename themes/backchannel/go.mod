// The theme as a Hugo module: [[module.imports]] path = "<this module path>" (README, "Install").
// PLACEHOLDER: replace it with the repository's real path followed by /themes/backchannel before
// publishing; Go refuses a module whose go.mod names a path other than the one imported.
// Builds that use the theme from themes/ (this repository's, the exampleSite) do not read it.
module github.com/you/your-repo/themes/backchannel

go 1.20
