"""Word attributions for every model (Integrated Gradients, occlusion, LIME, the students' exact
contributions), how faithful they are and how alike, and the HTML report."""
